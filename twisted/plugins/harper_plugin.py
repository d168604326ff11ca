"""
The C{twistd harper} plugin: names the tap module, nothing else.
"""

from twisted.application.service import ServiceMaker

harper = ServiceMaker(
    "harper",
    "harper.service.tap",
    "Harper: database, REST, real-time messaging and replication in one process",
    "harper",
)
