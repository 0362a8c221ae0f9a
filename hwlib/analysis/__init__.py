"""Reading stored runs: tables and figures (``report``), the one interval rule for paired comparisons
(``intervals``), paired arms (``paired``), how many seeds would decide (``power``), what the classes do (``errors``),
what each change of a sweep buys (``ablation``; over several seeds, paired: ``paired_changes``), costs
(``costs``), the domain-pretraining experiment (``domain``) and the report's claims (``claims``)."""
