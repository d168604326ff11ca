"""
Table definitions: GraphQL SDL in, frozen definitions out, and record validation against them.
"""
