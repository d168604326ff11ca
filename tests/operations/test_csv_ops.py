"""
Tests for L{harper.operations.csv_ops}: CSV loads as background jobs, over the operations
API on a loopback port.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase

from harper.operations.csv_ops import cell_value
from harper.operations.jobs import jobs_of
from harper.operations.scope import OperationScope
from harper.schema.model import AttributeDefinition, TypeRef
from tests.operations.helpers import OperationsCase

DOGS_CSV = 'id,name,age,owner\n1,Rex,3,Ann\n2,"Rover, Jr.",7,\n\n3,Spot,5,"Ann"\n'


class CellValueTests(SynchronousTestCase):
    """
    L{cell_value} converts a cell to its attribute's declared type.
    """

    def test_declared(self) -> None:
        """
        Numbers and booleans of declared types are converted; text that does not read as the
        type stays text.
        """
        self.assertEqual(cell_value("42", AttributeDefinition("a", TypeRef("Int"))), 42)
        self.assertEqual(cell_value("1.5", AttributeDefinition("a", TypeRef("Float"))), 1.5)
        self.assertEqual(cell_value("true", AttributeDefinition("a", TypeRef("Boolean"))), True)
        self.assertEqual(cell_value("007", AttributeDefinition("a", TypeRef("String"))), "007")
        self.assertEqual(cell_value("x1", AttributeDefinition("a", TypeRef("Int"))), "x1")

    def test_undeclared(self) -> None:
        """
        Undeclared attributes get numbers, booleans, null and JSON from text that reads as
        one, and text otherwise.
        """
        cells = ["12", "-1.5", "false", "null", '{"a": [1]}', "[1, 2]", "12 dogs", "plain"]
        self.assertEqual([cell_value(cell, None) for cell in cells], [12, -1.5, False, None, {"a": [1]}, [1, 2], "12 dogs", "plain"])


class CsvLoadTests(OperationsCase):
    """
    C{csv_data_load} and C{csv_file_load} answer with a job id and load in the background.
    """

    async def load(self, **fields: Any) -> dict:
        """
        Start a load, wait for its job and return the job's record (read with C{get_job}).
        """
        started = await self.ok({"table": "Dog", **fields})
        self.assertEqual(started["message"], f"Starting job with id {started['job_id']}")
        await jobs_of(OperationScope.of_runtime(self.runtime, reactor)).finished(started["job_id"])
        [job] = await self.ok({"operation": "get_job", "id": started["job_id"]})
        return job

    async def dogs(self) -> list:
        return await self.ok({"operation": "sql", "sql": "SELECT id, name, age, owner FROM Dog ORDER BY id"})

    async def test_data_load(self) -> None:
        """
        Every row becomes a record with values of the declared types; empty cells are left
        out; the job is complete with its counts and times.
        """
        job = await self.load(operation="csv_data_load", data=DOGS_CSV)
        self.assertEqual(job["status"], "COMPLETE")
        self.assertEqual(job["message"], "successfully loaded 3 of 3 records")
        self.assertEqual((job["record_count"], job["loaded_count"], job["errors"]), (3, 3, []))
        self.assertEqual((job["type"], job["user"]), ("csv_data_load", "admin"))
        self.assertLessEqual(job["start_datetime"], job["end_datetime"])
        self.assertEqual(await self.dogs(), [
            {"id": 1, "name": "Rex", "age": 3, "owner": "Ann"},
            {"id": 2, "name": "Rover, Jr.", "age": 7, "owner": None},
            {"id": 3, "name": "Spot", "age": 5, "owner": "Ann"},
        ])

    async def test_malformed_rows(self) -> None:
        """
        Rows with the wrong number of fields or values that fail validation are reported by
        line and not written; the other rows are loaded.
        """
        data = "id,name,age\n1,Rex,3\n2,Rover\n3,Spot,old\n4,,2\n5,Fido,1,extra\n6,Nova,2\n"
        job = await self.load(operation="csv_data_load", data=data)
        self.assertEqual(job["status"], "COMPLETE")
        self.assertEqual((job["record_count"], job["loaded_count"]), (6, 2))
        self.assertEqual([error.split(":")[0] for error in job["errors"]], ["line 3", "line 4", "line 5", "line 6"])
        self.assertIn("2 fields where the header has 3", job["errors"][0])
        self.assertIn("age", job["errors"][1])
        self.assertEqual([dog["id"] for dog in await self.dogs()], [1, 6])

    async def test_unreadable_csv(self) -> None:
        """
        CSV that cannot be parsed fails the job and writes nothing.
        """
        job = await self.load(operation="csv_data_load", data='id,name\n1,Rex\n2,"Rover\n3,Spot\n')
        self.assertEqual(job["status"], "ERROR")
        self.assertIn("cannot be read", job["message"])
        self.assertEqual(await self.dogs(), [])
        empty = await self.load(operation="csv_data_load", data="")
        self.assertEqual((empty["status"], empty["message"]), ("ERROR", "data: the CSV is empty (the first row must name the attributes)"))

    async def test_actions(self) -> None:
        """
        C{update} changes existing records and skips the others; C{upsert} does both;
        C{insert} skips existing keys.
        """
        await self.load(operation="csv_data_load", data=DOGS_CSV)
        updated = await self.load(operation="csv_data_load", action="update", data="id,age\n1,4\n9,1\n")
        self.assertEqual((updated["loaded_count"], updated["skipped_count"]), (1, 1))
        upserted = await self.load(operation="csv_data_load", action="upsert", data="id,name,age\n2,Rover,8\n9,Nova,1\n")
        self.assertEqual(upserted["loaded_count"], 2)
        inserted = await self.load(operation="csv_data_load", data="id,name\n3,Again\n")
        self.assertEqual((inserted["loaded_count"], inserted["skipped_count"]), (0, 1))
        ages = {dog["id"]: (dog["name"], dog["age"]) for dog in await self.dogs()}
        self.assertEqual(ages, {1: ("Rex", 4), 2: ("Rover", 8), 3: ("Spot", 5), 9: ("Nova", 1)})

    async def test_refused_requests(self) -> None:
        """
        Missing or wrong fields, unknown tables and missing permissions are refused at once.
        """
        self.assertEqual(await self.refused({"operation": "csv_data_load", "table": "Dog"}, 400), "data: required")
        self.assertEqual(await self.refused({"operation": "csv_data_load", "table": "Dog", "data": 5}, 400), "data: expected CSV text")
        error = await self.refused({"operation": "csv_data_load", "table": "Dog", "data": "id\n", "action": "merge"}, 400)
        self.assertIn("action", error)
        await self.refused({"operation": "csv_data_load", "table": "Cat", "data": "id\n"}, 404)
        reader = await self.add_reader()
        await self.refused({"operation": "csv_data_load", "table": "Dog", "data": "id\n1\n"}, 403, reader)

    async def test_file_load(self) -> None:
        """
        C{csv_file_load} reads a file in the import folder, by absolute or relative path.
        """
        folder = os.path.join(self.runtime.config.root_path, "import")
        os.makedirs(os.path.join(folder, "kennel"))
        with open(os.path.join(folder, "kennel", "dogs.csv"), "w", encoding="utf-8") as file:
            file.write(DOGS_CSV)
        job = await self.load(operation="csv_file_load", file_path="kennel/dogs.csv")
        self.assertEqual((job["status"], job["type"], job["loaded_count"]), ("COMPLETE", "csv_file_load", 3))
        again = await self.load(operation="csv_file_load", file_path=os.path.join(folder, "kennel", "dogs.csv"), action="upsert")
        self.assertEqual(again["loaded_count"], 3)

    async def test_file_outside_import_folder(self) -> None:
        """
        Paths outside the import folder are refused, also through C{..}, a symbolic link or
        to the root path's own files (the signing keys).
        """
        root = self.runtime.config.root_path
        folder = os.path.join(root, "import")
        os.makedirs(folder)
        outside = os.path.abspath(self.mktemp())
        with open(outside, "w", encoding="utf-8") as file:
            file.write(DOGS_CSV)
        os.symlink(outside, os.path.join(folder, "link.csv"))
        for path in (outside, os.path.relpath(outside, folder), "../keys/jwt-hs256.key", "link.csv", "/etc/passwd"):
            error = await self.refused({"operation": "csv_file_load", "table": "Dog", "file_path": path}, 403)
            self.assertIn("outside the import folder", error)
        self.assertEqual(await self.dogs(), [])

    async def test_missing_file(self) -> None:
        """
        A file that does not exist fails the job.
        """
        job = await self.load(operation="csv_file_load", file_path="nothing.csv")
        self.assertEqual(job["status"], "ERROR")
        self.assertIn("there is no file", job["message"])
