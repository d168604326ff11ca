"""
The operations API: C{POST /} with C{{"operation": ...}} on the operations port.
"""
