"""vanplan geo: road networks from OpenStreetMap, van travel times, matrices, route geometry, maps.

May import the optimizer's domain types; never imports ``api``.
"""
