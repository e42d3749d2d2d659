"""Everything TensorRT: build options, building engines and deciding when one is stale (``build``),
the engine manifest, the device an engine is built for, and the one module that calls TensorRT.

Only ``edgetl.trt.api`` imports ``tensorrt``; everything else here is plain Python that is tested on
the CPU: batch profiles, precision flags chosen by TensorRT version, the manifest and its staleness
checks.
"""
