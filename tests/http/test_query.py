"""
The query language end to end through REST: every operator, combination, select form, sort and
limit, checked against a brute-force evaluation in plain Python over a generated data set of
2,000 records (seeded random generator).
"""

from __future__ import annotations

import random

import orjson
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from tests.http.helpers import SocketClient, rest_api, start_runtime

SCHEMA = """
type Brand @table @export {
  id: Int @primaryKey
  name: String @indexed
  items: [Item] @relationship(to: "brandId")
}
type Item @table @export {
  id: Int @primaryKey
  name: String @indexed
  category: String @indexed
  price: Float @indexed
  rating: Int
  inStock: Boolean @indexed
  tags: [String] @indexed
  brandId: Int @indexed
  brand: Brand @relationship(from: "brandId")
}
"""

RECORDS = 2000
CATEGORIES = ["toys", "games", "books", "tools", "food"]
TAGS = ["red", "green", "blue", "new", "sale"]
SYLLABLES = ["jo", "an", "mi", "ka", "lo", "re", "su", "ta"]


def generate(seed: int = 20261125) -> tuple[list[dict], list[dict]]:
    """
    Brands and items from a seeded generator; some items lack a price or a brand.
    """
    rng = random.Random(seed)
    brands = [{"id": i, "name": f"Brand {chr(65 + i)}"} for i in range(8)]
    items = []
    for key in range(1, RECORDS + 1):
        item = {
            "id": key,
            "name": "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))).capitalize(),
            "category": rng.choice(CATEGORIES),
            "rating": rng.randint(1, 5),
            "inStock": rng.random() < 0.5,
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
        }
        if rng.random() < 0.9:
            item["price"] = round(rng.uniform(1, 300), 2)
        if rng.random() < 0.9:
            item["brandId"] = rng.randrange(len(brands))
        items.append(item)
    return brands, items


def _number(value, test):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and test(value)


def _text(value, test):
    return isinstance(value, str) and test(value)


BRANDS, ITEMS = generate()
BRAND_NAMES = {brand["id"]: brand["name"] for brand in BRANDS}

#: (query, predicate on one item) pairs; the predicate is the plain-Python meaning.
CONDITIONS = [
    ("category=toys", lambda r: r["category"] == "toys"),
    ("rating=3", lambda r: r["rating"] == 3),
    ("rating==3", lambda r: r["rating"] == 3),
    ("rating===3", lambda r: r["rating"] == 3),
    ("rating!=3", lambda r: r["rating"] != 3),
    ("rating=ne=3", lambda r: r["rating"] != 3),
    ("category!==toys", lambda r: r["category"] != "toys"),
    ("inStock=true", lambda r: r["inStock"] is True),
    ("inStock==boolean:false", lambda r: r["inStock"] is False),
    ("price=lt=50", lambda r: _number(r.get("price"), lambda v: v < 50)),
    ("price=le=50.5", lambda r: _number(r.get("price"), lambda v: v <= 50.5)),
    ("price=gt=250", lambda r: _number(r.get("price"), lambda v: v > 250)),
    ("price=ge=number:250", lambda r: _number(r.get("price"), lambda v: v >= 250)),
    ("price<20", lambda r: _number(r.get("price"), lambda v: v < 20)),
    ("price<=20", lambda r: _number(r.get("price"), lambda v: v <= 20)),
    ("price>290", lambda r: _number(r.get("price"), lambda v: v > 290)),
    ("price>=290", lambda r: _number(r.get("price"), lambda v: v >= 290)),
    ("rating=gt=3", lambda r: r["rating"] > 3),
    ("price=gt=100&lt=120", lambda r: _number(r.get("price"), lambda v: 100 < v < 120)),
    ("price=ge=100&=le=120", lambda r: _number(r.get("price"), lambda v: 100 <= v <= 120)),
    ("name=sw=Jo", lambda r: r["name"].startswith("Jo")),
    ("name==Ka*", lambda r: r["name"].startswith("Ka")),
    ("name=ew=ta", lambda r: r["name"].endswith("ta")),
    ("name=ct=mik", lambda r: "mik" in r["name"]),
    ("price==null", lambda r: r.get("price") is None),
    ("brandId=null", lambda r: r.get("brandId") is None),
    ("tags=sale", lambda r: "sale" in r["tags"]),
    ("tags[]=new", lambda r: "new" in r["tags"]),
    ("tags=ct=red", lambda r: "red" in r["tags"]),
    ("name==string:Jo", lambda r: r["name"] == "Jo"),
    ("category=toys&rating=5", lambda r: r["category"] == "toys" and r["rating"] == 5),
    ("category=toys|category=games", lambda r: r["category"] in ("toys", "games")),
    ("rating=5|(price=gt=100&price=lt=110)",
     lambda r: r["rating"] == 5 or _number(r.get("price"), lambda v: 100 < v < 110)),
    ("rating=5&[tags=red|tags=blue]", lambda r: r["rating"] == 5 and bool({"red", "blue"} & set(r["tags"]))),
    ("price=lt=30|[rating=5&[category=toys|category=food]&inStock=true]",
     lambda r: _number(r.get("price"), lambda v: v < 30)
     or (r["rating"] == 5 and r["category"] in ("toys", "food") and r["inStock"])),
    ("brand.name=Brand%20C", lambda r: BRAND_NAMES.get(r.get("brandId")) == "Brand C"),
    ("brand.name=sw=Brand%20A&rating=1",
     lambda r: _text(BRAND_NAMES.get(r.get("brandId")), lambda v: v.startswith("Brand A")) and r["rating"] == 1),
    ("category=in=(toys,books)", lambda r: r["category"] in ("toys", "books")),
    ("rating=in=(1,5)", lambda r: r["rating"] in (1, 5)),
    ("not(category=toys)", lambda r: r["category"] != "toys"),
    ("not(rating=gt=2)&inStock=true", lambda r: not r["rating"] > 2 and r["inStock"]),
    ("id=17", lambda r: r["id"] == 17),
    ("id=gt=1990", lambda r: r["id"] > 1990),
]


class QueryTests(TestCase):
    """
    Queries through C{GET /Item/?...} over a real loopback port (twisted.web's HTTP client)
    against brute force over the same records.
    """

    @inlineCallbacks
    def setUp(self):
        self.runtime = start_runtime(self, SCHEMA)
        self.client = SocketClient(self, rest_api(self.runtime))
        brand_table = self.runtime.tables.Brand.resource.table
        item_table = self.runtime.tables.Item.resource.table

        def seed(txn):
            for table, records in ((brand_table, BRANDS), (item_table, ITEMS)):
                for record in records:
                    table.put(txn, record)

        yield self.runtime.runner.run(seed)

    @inlineCallbacks
    def get(self, query, **headers):
        reply = yield self.client.request("GET", f"/Item/?{query}", headers=headers)
        self.assertEqual(reply.status, 200, f"{query}: {reply.body[:200]!r}")
        return reply

    @inlineCallbacks
    def test_conditions(self):
        """
        Each operator and combination finds exactly the records the brute-force predicate
        accepts.
        """
        for query, predicate in CONDITIONS:
            reply = yield self.get(f"{query}&select(id)")
            expected = sorted(item["id"] for item in ITEMS if predicate(item))
            self.assertEqual(sorted(orjson.loads(reply.body)), expected, query)

    @inlineCallbacks
    def test_sort_and_limit(self):
        """
        C{sort()} orders by one or more keys (descending with C{-}, through relationships)
        and C{limit()} pages the sorted result.
        """
        by_price = sorted((i for i in ITEMS if "price" in i), key=lambda i: (-i["price"], i["id"]))
        reply = yield self.get("price=gt=0&sort(-price,id)&limit(10)&select(id)")
        self.assertEqual(orjson.loads(reply.body), [i["id"] for i in by_price[:10]])
        by_rating = sorted(ITEMS, key=lambda i: (i["rating"], -i["id"]))
        reply = yield self.get("sort(+rating,-id)&limit(5,15)&select(id)")
        self.assertEqual(orjson.loads(reply.body), [i["id"] for i in by_rating[5:15]])
        branded = [i for i in ITEMS if "brandId" in i and i["category"] == "food"]
        by_brand = sorted(branded, key=lambda i: (BRAND_NAMES[i["brandId"]], i["id"]))
        reply = yield self.get("category=food&brandId=ge=0&sort(brand.name,id)&select(id)")
        self.assertEqual(orjson.loads(reply.body), [i["id"] for i in by_brand])

    @inlineCallbacks
    def test_select_forms(self):
        """
        C{select(a)} gives bare values, C{select(a,b)} objects, C{select([a,b])} arrays,
        C{select(a,)} one-property objects, C{rel{...}} nested objects and C{$id} the key.
        """
        first = ITEMS[0]
        brand = BRAND_NAMES.get(first.get("brandId"))
        cases = [
            ("select(name)", first["name"]),
            ("select(id,name)", {"id": 1, "name": first["name"]}),
            ("select([id,name])", [1, first["name"]]),
            ("select(name,)", {"name": first["name"]}),
            ("select($id)", 1),
            ("select(id,brand{name})", {"id": 1, "brand": {"name": brand} if brand else None}),
        ]
        for select, expected in cases:
            reply = yield self.get(f"id=1&{select}")
            self.assertEqual(orjson.loads(reply.body), [expected], select)

    @inlineCallbacks
    def test_count(self):
        """
        C{Prefer: count=exact} adds C{Content-Range: items START-END/TOTAL}; an estimate of
        an unconditional query is the table's size.
        """
        toys = sum(1 for item in ITEMS if item["category"] == "toys")
        reply = yield self.get("category=toys&limit(10,20)", prefer="count=exact")
        self.assertEqual(reply.header("content-range"), f"items 10-19/{toys}")
        reply = yield self.get("limit(5)", prefer="count=estimated")
        self.assertEqual(reply.header("content-range"), f"items 0-4/{RECORDS}")
        reply = yield self.get("category=none", prefer="count=exact")
        self.assertEqual(reply.header("content-range"), "items */0")
        reply = yield self.get("category=toys")
        self.assertIsNone(reply.header("content-range"))

    @inlineCallbacks
    def test_syntax_errors(self):
        """
        Malformed queries are 400s giving the reason and the position.
        """
        for query, position in [("a=1&b=2|c=3", 7), ("name==*Jo", 6), ("limit(x)", 6), ("rating==number:zz", 15),
                                ("frob(1)", 0), ("(a=1", 4)]:
            reply = yield self.client.request("GET", f"/Item/?{query}")
            self.assertEqual(reply.status, 400, query)
            self.assertIn(f"at position {position}", orjson.loads(reply.body)["error"], query)
