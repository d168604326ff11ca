"""
Tests for L{harper.database.query}: results, index use (visited-record counts), relationships.
"""

from twisted.trial.unittest import TestCase

from harper.database.conditions import Condition, Group, Not, Query, SortKey
from harper.database.query import QueryExecutor, QueryStats
from harper.schema.model import Relationship, TableDefinition, TypeRef
from tests.helpers import attribute, create_tables, dog_definition, file_runner


def breed_definition() -> TableDefinition:
    return TableDefinition(
        type_name="Breed",
        name="Breed",
        attributes=(
            attribute("id", "Int", primary_key=True),
            attribute("name", indexed=True),
            attribute(
                "dogs",
                type=TypeRef(None, item=TypeRef("Dog")),
                relationship=Relationship("Dog", to_attribute="breedId"),
            ),
        ),
    )


def dog_with_breed() -> TableDefinition:
    base = dog_definition()
    return TableDefinition(
        type_name="Dog",
        name="Dog",
        attributes=base.attributes
        + (
            attribute("breedId", "Int", indexed=True),
            attribute("breedRecord", type=TypeRef("Breed"), relationship=Relationship("Breed", from_attribute="breedId")),
        ),
    )


class QueryTests(TestCase):
    """
    Queries over 200 dogs of 4 breeds.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        self.dogs, self.breeds = create_tables(self.runner, dog_with_breed(), breed_definition())
        tables = {"Dog": self.dogs, "Breed": self.breeds}
        self.related = tables.__getitem__

        def load(txn):
            for number in range(4):
                self.breeds.put(txn, {"id": number, "name": f"breed{number}"})
            for number in range(200):
                self.dogs.put(
                    txn,
                    {
                        "id": number,
                        "name": f"dog{number:03}",
                        "breed": f"b{number % 4}",
                        "breedId": number % 4,
                        "age": number % 15,
                        "tags": ["even" if number % 2 == 0 else "odd"],
                    },
                )

        self.runner.run_blocking(load)

    def run_query(self, query: Query, table=None):
        stats = QueryStats()

        def work(txn):
            executor = QueryExecutor(txn, table or self.dogs, self.related, stats)
            return list(executor.run(query))

        return self.runner.run_blocking(work), stats

    def test_equality_uses_index(self) -> None:
        """
        An equality on an indexed attribute visits only the matching records.
        """
        records, stats = self.run_query(Query(Condition("breed", "equals", "b1")))
        self.assertEqual(len(records), 50)
        self.assertEqual(stats.visited, 50)

    def test_range_uses_index(self) -> None:
        """
        A range on an indexed attribute visits only the records in range.
        """
        records, stats = self.run_query(Query(Condition("name", "greater_than_equal", "dog190")))
        self.assertEqual([r["id"] for r in records], list(range(190, 200)))
        self.assertEqual(stats.visited, 10)

    def test_unindexed_filters_indexed_candidates(self) -> None:
        """
        In an C{and}, the indexed condition picks candidates and the unindexed one filters.
        """
        query = Query(Group("and", (Condition("age", "equals", 3), Condition("breed", "equals", "b3"))))
        records, stats = self.run_query(query)
        self.assertEqual({r["id"] for r in records}, {r for r in range(200) if r % 4 == 3 and r % 15 == 3})
        self.assertEqual(stats.visited, 50)

    def test_unindexed_scans(self) -> None:
        """
        A condition on an unindexed attribute alone scans the table.
        """
        records, stats = self.run_query(Query(Condition("age", "less_than", 1)))
        self.assertEqual(len(records), 14)
        self.assertEqual(stats.visited, 200)

    def test_or_of_indexed(self) -> None:
        """
        An C{or} of indexed conditions visits the union only.
        """
        query = Query(Group("or", (Condition("breed", "equals", "b0"), Condition("name", "equals", "dog001"))))
        records, stats = self.run_query(query)
        self.assertEqual(len(records), 51)
        self.assertEqual(stats.visited, 51)

    def test_comparators(self) -> None:
        """
        Every comparator selects what it names.
        """
        cases = [
            (Condition("name", "starts_with", "dog19"), 10),
            (Condition("name", "ends_with", "99"), 2),
            (Condition("name", "contains", "g05"), 10),
            (Condition("age", "between", (13, 14)), 26),
            (Condition("age", "not_equal", 0), 186),
            (Condition("age", "greater_than", 13), 13),
            (Condition("age", "less_than_equal", 0), 14),
            (Condition("id", "in", (1, 2, 500)), 2),
            (Condition("tags", "equals", "odd"), 100),
            (Condition("tags", "contains", "even"), 100),
            (Not(Condition("breed", "equals", "b0")), 150),
        ]
        for condition, expected in cases:
            records, _ = self.run_query(Query(condition))
            self.assertEqual(len(records), expected, condition)

    def test_type_ranked_comparison(self) -> None:
        """
        A numeric range never matches strings (and vice versa), with or without an index.
        """
        records, _ = self.run_query(Query(Condition("name", "greater_than", 5)))
        self.assertEqual(records, [])
        records, _ = self.run_query(Query(Condition("age", "greater_than", "a")))
        self.assertEqual(records, [])

    def test_sort_offset_limit(self) -> None:
        """
        Multi-key sort with offset and limit.
        """
        query = Query(
            Condition("breed", "equals", "b1"),
            sort=(SortKey("age", descending=True), SortKey("name")),
            offset=1,
            limit=3,
        )
        records, _ = self.run_query(query)
        self.assertEqual([(r["age"], r["name"]) for r in records], [(14, "dog089"), (14, "dog149"), (13, "dog013")])

    def test_sort_by_index_streams(self) -> None:
        """
        Sorting the whole table by an indexed attribute with a limit reads only what it returns.
        """
        records, stats = self.run_query(Query(sort=(SortKey("name", descending=True),), limit=2))
        self.assertEqual([r["id"] for r in records], [199, 198])
        self.assertEqual(stats.visited, 2)

    def test_condition_through_many_to_one(self) -> None:
        """
        C{breedRecord.name=breed2} is answered through the Breed index and then Dog's breedId index.
        """
        records, stats = self.run_query(Query(Condition(("breedRecord", "name"), "equals", "breed2")))
        self.assertEqual({r["id"] % 4 for r in records}, {2})
        self.assertEqual(len(records), 50)
        self.assertEqual(stats.visited, 51)

    def test_condition_through_one_to_many(self) -> None:
        """
        C{dogs.name=dog005} finds the breed whose dogs include that dog.
        """
        records, _ = self.run_query(Query(Condition(("dogs", "name"), "equals", "dog005")), self.breeds)
        self.assertEqual([r["name"] for r in records], ["breed1"])

    def test_sort_through_relationship(self) -> None:
        """
        Sorting by a related record's attribute.
        """
        query = Query(Condition("id", "in", (0, 1, 2, 3)), sort=(SortKey(("breedRecord", "name"), descending=True),))
        records, _ = self.run_query(query)
        self.assertEqual([r["id"] for r in records], [3, 2, 1, 0])


class LargeTableTests(TestCase):
    """
    Index use on a table of 100,000 records.
    """

    def test_indexed_query_on_100000_records(self) -> None:
        """
        An equality and a range on an indexed attribute visit only their matches among
        100,000 records.
        """
        runner = file_runner(self, threads=1)
        [dogs] = create_tables(runner, dog_definition())

        def load(txn):
            for number in range(100_000):
                dogs.put(txn, {"id": number, "name": f"dog{number:06}", "breed": f"b{number % 1000}"})

        runner.run_blocking(load)
        for condition, expected in (
            (Condition("breed", "equals", "b7"), 100),
            (Condition("name", "between", ("dog050000", "dog050249")), 250),
        ):
            stats = QueryStats()
            found = runner.run_blocking(
                lambda txn: list(QueryExecutor(txn, dogs, {}.get, stats).run(Query(condition)))
            )
            self.assertEqual((len(found), stats.visited), (expected, expected))


class ReleaseTests(TestCase):
    """
    Scans that give back what they loaded (for streamed answers).
    """

    def test_loaded_records_ghosted_again(self) -> None:
        """
        With C{release}, records and buckets the scan loaded are ghosts again once used;
        without it they stay loaded.
        """
        runner = file_runner(self, threads=1)
        [dogs] = create_tables(runner, dog_definition())
        runner.run_blocking(lambda txn: [dogs.put(txn, {"id": n, "name": f"d{n}"}) for n in range(300)])

        def scan(release):
            def work(txn):
                txn.connection.cacheMinimize()
                found = list(QueryExecutor(txn, dogs, {}.get, release=release).run(Query()))
                entries = list(dogs.store(txn).records.values())
                return len(found), sum(entry._p_changed is None for entry in entries)

            return runner.run_blocking(work)

        self.assertEqual(scan(release=True), (300, 300))
        self.assertEqual(scan(release=False), (300, 0))
