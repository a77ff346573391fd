"""Recommendation reports: current resources vs recommendations, evidence, flags, savings.

``inventory`` describes what workloads request today (from manifests now, from the cluster
later); ``build`` joins it with the engine's recommendations and the usage model into a
:class:`~recommender.report.model.Report`; ``formats`` render it.
"""
