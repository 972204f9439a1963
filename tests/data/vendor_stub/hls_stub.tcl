# Vivado HLS (and Vivado synthesis) commands stubbed for tests: each call is appended to hls_calls.txt in the
# working directory, one line "command arg arg ..." each, and csynth_design writes the Verilog directory and, when
# TRIGCOMP_STUB_CSYNTH names a real csynth.xml, a copy of it as <top>_csynth.xml with the top's name and the part
# set_part gave, as the real tool writes them.
# Usage: hls_stub.tcl -f SCRIPT ARGS...
# Licence: Apache-2.0, as trigcomp.

set calls [open hls_calls.txt w]
proc record {args} { puts $::calls [join $args " "] }
foreach command {open_project open_solution add_files create_clock set_clock_uncertainty config_compile
                 config_schedule config_array_partition export_design synth_design opt_design report_utilization} {
    proc $command {args} "record $command {*}\$args"
}
proc set_top {name} { record set_top $name; set ::stub_top $name }
proc set_part {args} { record set_part {*}$args; set ::stub_part [lindex $args 0] }
proc csynth_design {} {
    record csynth_design
    set report ${::stub_top}_prj/solution1/syn/report
    file mkdir ${::stub_top}_prj/solution1/syn/verilog $report
    if {[info exists ::env(TRIGCOMP_STUB_CSYNTH)]} {
        set in [open $::env(TRIGCOMP_STUB_CSYNTH)]
        set xml [read $in]
        close $in
        regsub {<TopModelName>[^<]*</TopModelName>} $xml "<TopModelName>$::stub_top</TopModelName>" xml
        if {[info exists ::stub_part]} { regsub {<Part>[^<]*</Part>} $xml "<Part>$::stub_part</Part>" xml }
        set out [open $report/${::stub_top}_csynth.xml w]
        puts -nonewline $out $xml
        close $out
    }
}
rename exec tcl_exec
proc exec {args} { record exec {*}$args }
rename ::exit ::tcl_exit_original
proc exit {{code 0}} { record exit $code; close $::calls; ::tcl_exit_original $code }

if {[lindex $argv 0] ne "-f"} { puts stderr "usage: hls_stub.tcl -f SCRIPT ARGS..."; ::tcl_exit_original 2 }
set script [lindex $argv 1]
set argv [lrange $argv 2 end]
set argc [llength $argv]
source $script
