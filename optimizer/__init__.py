"""vanplan optimizer: domain types, the OR-Tools model, plan extraction and an independent checker.

Pure: knows nothing of HTTP or OpenStreetMap. Takes a travel matrix, returns a plan.
"""
