# Vivado batch flow for an adderflow network, written by adderflow.hw.synth.emit_vivado.
# Run from anywhere: vivado -mode batch -source @TCL_NAME@
# Out-of-context synthesis, placement and routing of @TOP@ on @PART@ at @CLOCK_MHZ@ MHz;
# reports land beside this script. The memory files ($readmemh, paths relative to the
# working directory) are next to it, hence the cd.
cd [file dirname [file normalize [info script]]]
set part @PART@
set top @TOP@
set outdir reports
file mkdir $outdir

# Sources (Verilog-2005), in dependency-free order.
read_verilog {
@SOURCES@
}
# Memory initialisation files read by $readmemh at elaboration.
set mem_files {
@MEM_FILES@
}
foreach f $mem_files {
    if {![file exists $f]} { error "memory file $f missing" }
}
read_xdc -mode out_of_context @XDC_NAME@

synth_design -top $top -part $part -mode out_of_context -flatten_hierarchy rebuilt
report_utilization -file $outdir/utilization_synth.rpt
opt_design
place_design
route_design
report_utilization -file $outdir/utilization.rpt
report_timing_summary -max_paths 10 -file $outdir/timing.rpt
write_checkpoint -force $outdir/$top.dcp
