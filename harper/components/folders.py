# -*- test-case-name: tests.components.test_folders -*-
"""
The application folders under C{<rootPath>/components} as the component operations change
them: list their files, read and write one file, create a folder from a template, unpack a
deployed tar archive, delete a file or a folder.

Every change is applied at once: the application of the folder is loaded (or reloaded) in
the serving daemon, and when that fails the change is undone on disk too, so that the files
always hold the version that serves (and the next start loads it). Paths in requests are
checked to stay inside the folder; archives are unpacked into a hidden staging folder first,
refusing absolute paths, C{..}, links that leave the folder, special files and archives that
unpack to too much.
"""

from __future__ import annotations

import datetime
import io
import os
import re
import shutil
import tarfile
import tempfile
from typing import Any, Callable, Iterator, Optional

from harper.components.lifecycle import Applications
from harper.components.loader import components_root
from harper.errors import Conflict, HarperError, InvalidInput, NotFound, StartupError

#: What a project (application folder) may be called.
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")

#: The most files, and bytes once unpacked, a deployed archive may hold.
MAX_FILES = 10_000
MAX_UNPACKED_BYTES = 256 * 1024 * 1024

#: Folders left out of listings (they are caches, not content).
SKIPPED = frozenset({"__pycache__"})

#: The files of a new application made by C{add_component}.
TEMPLATE = {
    "config.yaml": (
        "# The plugins this application uses (docs/plugins.md).\n"
        "rest: true\n"
        "graphqlSchema:\n"
        "  files: '*.graphql'\n"
        "pyResource:\n"
        "  files: resources.py\n"
    ),
    "schema.graphql": "",
}


class NotLoaded(InvalidInput):
    """
    A change to an application's files was undone because the application did not load.
    """

    def __init__(self, project: str, problems: list[str]) -> None:
        listed = "; ".join(problems)
        super().__init__(f"{project} was not loaded (the previous version keeps serving): {listed}")
        self.problems = problems


def _relative(path: str, field: str) -> str:
    """
    C{path} as a clean relative path; raise L{InvalidInput} naming C{field} when it is
    absolute, leaves the folder or is empty.
    """
    if "\0" in path or "\\" in path:
        raise InvalidInput(f"{field}: {path!r} contains a forbidden character")
    if path.startswith("/"):
        raise InvalidInput(f"{field}: {path!r} must be relative to the project folder")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"{field}: {path!r} must stay inside the project folder ('..' is not allowed)")
    if not parts:
        raise InvalidInput(f"{field}: must name a file of the project")
    return "/".join(parts)


def _inside(folder: str, path: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root + os.sep)


def _entries(folder: str) -> list[dict[str, Any]]:
    entries = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name in SKIPPED:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            entries.append({"name": name, "entries": _entries(path)})
            continue
        status = os.stat(path, follow_symlinks=False)
        mtime = datetime.datetime.fromtimestamp(status.st_mtime, datetime.timezone.utc)
        entries.append({
            "name": name,
            "mtime": mtime.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "size": status.st_size,
        })
    return entries


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """
    The members of C{archive}, checked: no absolute paths, no C{..}, no special files, at
    most L{MAX_FILES} members and L{MAX_UNPACKED_BYTES} bytes.
    """
    total = 0
    for count, member in enumerate(archive, 1):
        if count > MAX_FILES:
            raise InvalidInput(f"payload: the archive holds more than {MAX_FILES} files")
        total += member.size if member.isfile() else 0
        if total > MAX_UNPACKED_BYTES:
            raise InvalidInput(f"payload: the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        if member.name.startswith("/"):
            raise InvalidInput(f"payload: {member.name!r} is an absolute path")
        if ".." in member.name.split("/"):
            raise InvalidInput(f"payload: {member.name!r} leaves the project folder")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise InvalidInput(f"payload: {member.name!r} is not a file, folder or link")
        yield member


def _without_top_folder(members: list[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """
    C{members} renamed without their top folder when they all sit in the same one.
    """
    tops = {member.name.strip("/").split("/", 1)[0] for member in members}
    if len(tops) != 1:
        return members
    top = tops.pop()
    if any(member.name.strip("/") == top and not member.isdir() for member in members):
        return members
    prefix = top + "/"
    inside = [member for member in members if member.name.strip("/") != top]
    for member in inside:
        member.name = member.name.strip("/")[len(prefix):]
        if member.islnk() and member.linkname.startswith(prefix):
            member.linkname = member.linkname[len(prefix):]
    return inside


def unpack(data: bytes, destination: str) -> None:
    """
    Unpack the tar archive C{data} (gzip, bzip2 or xz compressed, or not) into the empty
    folder C{destination}. An archive whose members all sit in one top folder (as
    C{tar -czf app.tgz app} makes) is unpacked without that folder.

    :raises InvalidInput: naming C{payload} when the archive is malformed or unsafe.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            members = _without_top_folder(list(_members(archive)))
            archive.extractall(destination, members=members, filter="data")
    except tarfile.FilterError as error:
        raise InvalidInput(f"payload: {error}") from error
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise InvalidInput(f"payload: not a readable tar archive: {error}") from error


class ComponentFolders:
    """
    The application folders under L{components_root}, changed on disk and in the serving
    daemon together.

    :param applications: the serving applications.
    """

    def __init__(self, applications: Applications) -> None:
        self._applications = applications
        self.root = components_root(applications.runtime.config)

    def path(self, project: str) -> str:
        """
        The folder C{project} names, whether it exists or not.

        :raises InvalidInput: naming C{project} when the name is not a valid folder name.
        """
        if not PROJECT_NAME.match(project):
            raise InvalidInput(
                f"project: {project!r} must start with a letter or digit and hold only letters, digits, '_', '.' and '-'"
            )
        return os.path.join(self.root, project)

    def folder(self, project: str) -> str:
        """
        The existing folder of C{project}.

        :raises NotFound: when there is none.
        """
        folder = self.path(project)
        if not os.path.isdir(folder):
            raise NotFound(f"project: there is no component {project!r}")
        return folder

    def file(self, project: str, path: str, must_exist: bool = True) -> str:
        """
        The absolute path of file C{path} in C{project}'s folder, which must stay inside it.

        :raises NotFound: when C{must_exist} and there is no such file.
        """
        folder = self.folder(project)
        target = os.path.join(folder, _relative(path, "file"))
        if not _inside(folder, target):
            raise InvalidInput(f"file: {path!r} must stay inside the project folder")
        if must_exist and not os.path.isfile(target):
            raise NotFound(f"file: {project} has no file {path!r}")
        return target

    def tree(self) -> dict[str, Any]:
        """
        Every component folder with its files (name, modification time, size), nested.
        """
        os.makedirs(self.root, exist_ok=True)
        return {"name": os.path.basename(self.root), "entries": [
            entry for entry in _entries(self.root) if "entries" in entry and not entry["name"].startswith(".")
        ]}

    def read(self, project: str, path: str) -> bytes:
        """
        The content of file C{path} of C{project}.
        """
        with open(self.file(project, path), "rb") as stream:
            return stream.read()

    def write(self, project: str, path: str, content: bytes) -> None:
        """
        Create or replace file C{path} of C{project}, then reload the application; undo the
        write when it does not load.
        """
        target = self.file(project, path, must_exist=False)
        if os.path.isdir(target):
            raise InvalidInput(f"file: {path!r} is a folder")
        previous = self._content(target)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _write(target, content)
        self._serve(project, lambda: _put_back(target, previous))

    def delete(self, project: str, path: Optional[str] = None) -> None:
        """
        Delete file C{path} of C{project} and reload the application (undone when it does not
        load), or, without C{path}, stop serving the application and delete its folder.
        """
        if path is not None:
            target = self.file(project, path)
            previous = self._content(target)
            os.remove(target)
            self._serve(project, lambda: _put_back(target, previous))
            return
        folder = self.folder(project)
        application = self._applications.find(folder)
        if application is not None:
            self._applications.remove(application)
        shutil.rmtree(folder)

    def add(self, project: str) -> None:
        """
        Create C{project} from L{TEMPLATE} and serve it.
        """
        folder = self.path(project)
        if os.path.lexists(folder):
            raise Conflict(f"project: the component {project!r} already exists")
        staging = self._staging()
        for name, text in TEMPLATE.items():
            _write(os.path.join(staging, name), text.encode("utf-8"))
        self._replace(project, folder, staging)

    def deploy(self, project: str, archive: Optional[bytes] = None, package: Optional[str] = None) -> None:
        """
        Replace (or create) C{project}'s folder with the content of the tar C{archive} or of
        the local C{package} (a folder or a tar file), and serve it; when it does not load,
        the previous folder comes back and keeps serving.
        """
        folder = self.path(project)
        staging = self._staging()
        try:
            if archive is not None:
                unpack(archive, staging)
            elif os.path.isdir(package):
                shutil.rmtree(staging)
                shutil.copytree(package, staging, ignore=shutil.ignore_patterns(*SKIPPED))
            elif os.path.isfile(package):
                with open(package, "rb") as stream:
                    unpack(stream.read(), staging)
            else:
                raise InvalidInput(f"package: {package!r} is not a folder or a file of this server")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._replace(project, folder, staging)

    def _staging(self) -> str:
        os.makedirs(self.root, exist_ok=True)
        return tempfile.mkdtemp(prefix=".staging-", dir=self.root)

    def _replace(self, project: str, folder: str, staging: str) -> None:
        """
        Put the folder C{staging} in the place of C{folder} and serve it; on failure, put the
        previous folder back.
        """
        aside = None
        if os.path.lexists(folder):
            aside = tempfile.mkdtemp(prefix=".previous-", dir=self.root)
            os.rename(folder, os.path.join(aside, project))
        os.rename(staging, folder)

        def undo() -> None:
            shutil.rmtree(folder)
            if aside is not None:
                os.rename(os.path.join(aside, project), folder)
                os.rmdir(aside)

        self._serve(project, undo)
        if aside is not None:
            shutil.rmtree(aside)

    def _serve(self, project: str, undo: Callable[[], None]) -> None:
        """
        Load or reload the application of C{project}'s folder; when that fails, call C{undo}
        and raise L{NotLoaded}.
        """
        folder = os.path.join(self.root, project)
        application = self._applications.find(folder)
        try:
            if application is None:
                self._applications.load(folder)
            else:
                self._applications.reload(application)
        except HarperError as error:
            undo()
            problems = list(error.problems) if isinstance(error, StartupError) else [error.message]
            raise NotLoaded(project, problems) from error

    @staticmethod
    def _content(path: str) -> Optional[bytes]:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as stream:
            return stream.read()


def _write(path: str, content: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(content)


def _put_back(path: str, content: Optional[bytes]) -> None:
    """
    Restore file C{path} to C{content}, or delete it when C{content} is C{None}.
    """
    if content is None:
        os.remove(path)
    else:
        _write(path, content)
