"""Second engines beside OR-Tools (the model of record).

:mod:`optimizer.engines.pyvrp_model` maps a problem to PyVRP's ``ProblemData`` when PyVRP can
express it faithfully (else it declines, naming why); :mod:`optimizer.engines.pyvrp_search` runs
PyVRP, turns its best solution into vanplan routes, checks them with the independent checker and
hands them to OR-Tools as a warm start.
"""
