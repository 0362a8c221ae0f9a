"""The store: every run (``runs``), pretraining record (``pretrainings``), recipe file (``recipes``) and summary
(``summaries``: benchmarks, GPU memory), each with one checked path, get and put under the results root, and one
error for a bad file (``hwlib.files.StoreError``); ``listing`` summarises what is stored."""
