"""
Custom resources of the kennel example.
"""

from harper.database.conditions import Condition, Query
from harper.errors import InvalidInput
from harper.resources.base import Resource


class BreedCensus(Resource):
    """
    GET /BreedCensus/<breed id>: how many dogs of that breed the kennel has.
    """

    def get(self, target, context):
        try:
            breed_id = int(target.id)
        except (TypeError, ValueError):
            raise InvalidInput("use /BreedCensus/<breed id>, the id being a number") from None
        breed = self.tables.Breed.get(breed_id, context)
        dogs = self.tables.Dog.search(Query(Condition("breedId", "equals", breed["id"])), context)
        return {"breed": breed["name"], "dogs": len(dogs)}
