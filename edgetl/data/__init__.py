"""Data readers: the layouts edgetl reads (``layouts``), their readers (``folders``, ``gtsrb``) and the
samples and splits they return (``samples``). Nothing here generates data; ``edgetl.synth`` does."""
