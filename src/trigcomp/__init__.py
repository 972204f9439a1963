"""trigcomp: trigger jets to bit-exact FPGA compression firmware.

Stages, left to right: data -> model -> evaluate -> hls -> csim -> reports (and rtl, the open path).
"""

__version__ = "0.1.0"
