"""
Users, roles, passwords, tokens and the permission checks every transport applies.
"""
