# -*- test-case-name: tests.components.test_plugins -*-
"""
The contract of application plugins, built in or third-party.
"""

from zope.interface import Attribute, Interface


class IHarperPlugin(Interface):
    """
    A named feature an application switches on with a key in its C{config.yaml}.

    Third-party plugins are found with C{twisted.plugin.getPlugins(IHarperPlugin, package)}: a
    module in a plugin package (C{twisted/plugins/} by default) that has a module-level object
    providing this interface and L{twisted.plugin.IPlugin}.
    """

    name = Attribute("The config.yaml key that enables the plugin, for example 'rest'.")

    def check(options):
        """
        Return a list of problems (strings) with C{options}, the value of the plugin's key in
        an application's config.yaml. An empty list means valid.
        """

    def handle_application(application, options):
        """
        Set the plugin up for one application: register resources, routes or services through
        C{application} (an L{IApplicationScope}). Raise L{harper.errors.ComponentError} (or any
        exception, which is reported as such) to refuse to start.
        """


class IApplicationScope(Interface):
    """
    What a plugin sees of one application while it is being loaded.
    """

    name = Attribute("The application's name (its folder name).")
    path = Attribute("The application folder, a L{twisted.python.filepath.FilePath}.")
    url_path = Attribute("The URL prefix of the application ('' for the root).")
    config = Attribute("The daemon's L{harper.components.config.HarperConfig}.")

    def files(pattern):
        """
        Return the application's files matching a glob C{pattern} (or list of patterns), sorted.
        """

    def add_schema(source, text):
        """
        Add GraphQL SDL text (from file C{source}) to the application's schema.
        """

    def export_resource(name, resource):
        """
        Serve an L{IResource} at C{name} under the application's URL path.
        """

    def add_http_resource(url_path, resource):
        """
        Serve a C{twisted.web.resource.IResource} (static files, custom web apps) at C{url_path}.
        """

    def on_start(callback):
        """
        Call C{callback(runtime)} once the database is open and the tables exist, before any
        listener opens (for example to seed records or to set a table's source). It runs on
        the reactor thread during start-up, where blocking calls are allowed; C{runtime} has
        C{tables}, C{databases}, C{runner}, C{caller} (the L{ResourceCaller} transports use),
        C{access} (users, roles and the authenticator) and C{reactor}. An exception stops the
        start.
        """

    def on_stop(callback):
        """
        Call C{callback()} when this version of the application stops serving: when it is
        removed, when a reload replaced it (or the reload failed after it started), and when
        the daemon stops. Release here what an L{on_start} callback acquired (thread pools,
        connections, timers). It runs on the reactor thread; it may be called although the
        start callbacks did not run, and an exception is logged, not raised.
        """

    def exported_tables(runtime):
        """
        The table resources (L{harper.resources.table.TableResource}) this application's
        schema exports, in schema order, once C{runtime} (given to an L{on_start} callback)
        has started.
        """

    def enable_rest(options):
        """
        Serve this application's exported resources over HTTP with C{options}.
        """
