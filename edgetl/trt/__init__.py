"""TensorRT engines: build options, the engine manifest, and the one module that calls TensorRT.

Only ``edgetl.trt.api`` imports ``tensorrt``; everything else here is plain Python that is tested on
the CPU: batch profiles, precision flags chosen by TensorRT version, the manifest and its staleness
checks.
"""
