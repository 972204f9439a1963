# Vivado HLS / Vitis HLS flow for trigcomp_top: the hls4ml encoder plus trigcomp's link packing, the function a
# board integration instantiates (hls4ml's build_prj.tcl synthesises the encoder alone).
# Copied into every HLS project by `trigcomp hls`; `trigcomp build` runs it in the project directory:
#     vivado_hls -f build_trigcomp_top.tcl "reset=1 synth=1 export=0 vsynth=0"     (or vitis_hls)
# Part, clock and the encoder's function name come from hls4ml's project.tcl beside this file.
# Reports: trigcomp_top_prj/solution1/syn/report/trigcomp_top_csynth.{rpt,xml} (read by `trigcomp report`),
# and with vsynth=1 trigcomp_top_vivado_synth.rpt.

set top trigcomp_top
set tcldir [file dirname [info script]]
source [file join $tcldir project.tcl]

array set opt {
    reset  1
    synth  1
    export 0
    vsynth 0
}
foreach arg $::argv {
    foreach o [lsort [array names opt]] {
        regexp "$o=+(\\w+)" $arg unused opt($o)
    }
}

if {$opt(reset)} {
    open_project -reset ${top}_prj
} else {
    open_project ${top}_prj
}
set_top $top
# trigcomp_top.cpp calls the encoder ${project_name}() from ${project_name}.cpp; both include from firmware/
add_files firmware/${top}.cpp -cflags "-std=c++0x"
add_files firmware/${project_name}.cpp -cflags "-std=c++0x"
if {$opt(reset)} {
    open_solution -reset solution1
} else {
    open_solution solution1
}
catch {config_array_partition -maximum_size $maximum_size}
config_compile -name_max_length 80
set_part $part
config_schedule -enable_dsp_full_reg=false
create_clock -period $clock_period -name default
set_clock_uncertainty $clock_uncertainty default

if {$opt(synth)} {
    puts "***** C/RTL SYNTHESIS of $top *****"
    csynth_design
}

if {$opt(export)} {
    puts "***** EXPORT IP of $top *****"
    export_design -format ip_catalog -version $version
}

if {$opt(vsynth)} {
    puts "***** VIVADO SYNTHESIS of $top *****"
    if {![file exist ${top}_prj/solution1/syn/verilog]} {
        puts "ERROR: no Verilog of $top: run the C synthesis first (synth=1)"
        exit 1
    }
    exec vivado -mode batch -source [file join $tcldir trigcomp_top_vivado_synth.tcl] >@ stdout
}

exit
