"""
Application plugins built on the public plugin interface: C{graphql}, C{wsgi},
C{kleinRoutes}, C{loadEnv} and C{roles}.
"""
