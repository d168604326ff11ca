"""
Custom resources of the kennel example.
"""

from harper.database.conditions import Condition, Query
from harper.resources.base import Resource


class BreedCensus(Resource):
    """
    GET /BreedCensus/<breed id>: how many dogs of that breed the kennel has.
    """

    def get(self, target, context):
        breed = self.tables.Breed.get(int(target.id), context)
        dogs = self.tables.Dog.search(Query(Condition("breedId", "equals", breed["id"])), context)
        return {"breed": breed["name"], "dogs": len(dogs)}
