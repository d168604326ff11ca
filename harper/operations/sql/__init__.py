"""
The C{sql} operation: SQL text parsed with sqlglot, planned onto the shared query model and
run by the tables' query executor and Resource API.
"""
