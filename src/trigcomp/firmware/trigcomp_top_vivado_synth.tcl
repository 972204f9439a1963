# Vivado synthesis of trigcomp_top's Verilog (from build_trigcomp_top.tcl with vsynth=1), out of context, and its
# utilization report, which `trigcomp report` reads. Part from hls4ml's project.tcl beside this file.

set top trigcomp_top
set tcldir [file dirname [info script]]
source [file join $tcldir project.tcl]

add_files ${top}_prj/solution1/syn/verilog
synth_design -top $top -part $part -mode out_of_context
opt_design -retarget -propconst -sweep -bram_power_opt -shift_register_opt
report_utilization -file ${top}_vivado_synth.rpt
