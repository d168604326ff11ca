# -*- test-case-name: tests.resources.test_base -*-
"""
The Resource API: the one contract every table and custom resource implements.

This is Harper's resource, not C{twisted.web.resource.IResource}; modules that need both import
C{twisted.web.resource} as a module.
"""

from zope.interface import Attribute, Interface


class IRequestContext(Interface):
    """
    What a resource call knows about its caller and the transaction it runs in.
    """

    user = Attribute("The authenticated user, or None when nobody logged in.")
    check_permission = Attribute(
        "Whether calls through the resource caller ask the resource's allow_* methods first "
        "(set by transports for their callers; off for code calling tables)."
    )
    headers = Attribute("Request headers as a case-insensitive mapping (may be empty).")
    transaction = Attribute(
        "The open L{harper.database.transaction.Transaction} the call runs in."
    )
    response_headers = Attribute("Mapping of headers the resource wants sent back.")


class IResource(Interface):
    """
    A resource addressed by a path: a table, or custom code.

    Every method runs inside the transaction of C{context}; it returns plain values (records
    are mappings) or raises L{harper.errors.HarperError}. C{target} is a
    L{harper.resources.target.RequestTarget}.
    """

    def get(target, context):
        """
        Return the record at C{target.id}, or the description of the resource when the target
        has no id and is not a collection; raise L{harper.errors.NotFound} when absent.
        """

    def search(target, context):
        """
        Return an iterable of records matching C{target.query}.
        """

    def put(target, data, context):
        """
        Replace the record at C{target.id} with C{data}; return the stored record.
        """

    def post(target, data, context):
        """
        Create a record (generated key) in the collection; return the stored record.
        """

    def patch(target, data, context):
        """
        Merge C{data} into the record at C{target.id}; return the stored record.
        """

    def delete(target, context):
        """
        Delete the record at C{target.id}, or every match of a collection target; return
        whether anything was deleted.
        """

    def publish(target, message, context):
        """
        Deliver C{message} to the subscribers of C{target} without storing it.
        """

    def subscribe(target, context, listener):
        """
        Call C{listener(event)} with every change to C{target} after the transactions that
        make them commit; return an L{ISubscription}. C{context.subscription}
        (L{harper.resources.subscription.SubscriptionOptions}) may ask for history first
        (C{startTime}, C{previousCount}) or for the records below C{target}
        (C{includeDescendants}).
        """

    def connect(target, context, send):
        """
        Open a channel to the target for a WebSocket or SSE client: C{send(message)} delivers a
        message (or change event) to the client. Return an L{ISubscription}; if it also has a
        C{receive(message)} method, messages from the client are passed to it.
        """

    def allow_read(user, target, context):
        """
        Whether C{user} (C{None}: nobody logged in) may C{get}, C{search}, C{subscribe} to or
        C{connect} to C{target}; may raise L{harper.errors.Forbidden} with its own message.
        """

    def allow_create(user, target, data, context):
        """
        Whether C{user} may C{post} or C{publish} C{data} to C{target}.
        """

    def allow_update(user, target, data, context):
        """
        Whether C{user} may C{put} or C{patch} C{target} with C{data}.
        """

    def allow_delete(user, target, context):
        """
        Whether C{user} may C{delete} C{target}.
        """


class ISubscription(Interface):
    """
    A live subscription to change events.
    """

    def close():
        """
        Stop delivering events.
        """


class IResourceRegistry(Interface):
    """
    The exported resources by path.
    """

    def register(path, resource):
        """
        Serve C{resource} at C{path}; a path served already is an error.
        """

    def resolve(path):
        """
        Return C{(resource, remainder)} for the longest registered prefix of C{path}, or raise
        L{harper.errors.NotFound}.
        """
