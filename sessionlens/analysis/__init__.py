"""From the lake and the changes to an analysis: spikes, their causes, where they sit, anomalies.

``pipeline.analyze`` is the entry (re-exported as ``sessionlens.analyze``);
``result`` holds what it returns. Detection: ``spikes``, ``onset``,
``cusum``, ``changepoint``, ``segment_spikes``. Where the errors sit:
``segments``, ``localise``. Causes and responses: ``attribute`` (``rank``),
``suspects``, ``scope``, ``causes``, ``responses``. The end of the data:
``ending``. Session anomalies: ``anomalies/``. Sentences: ``text``, ``headline``.
"""
