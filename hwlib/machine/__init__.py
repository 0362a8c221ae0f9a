"""The machine layer: what this CPU reports (``flags``), what ``precision="auto"`` trains in here (``precision``),
where and how a run is made (``provenance``) and its peak memory (``peak``)."""
