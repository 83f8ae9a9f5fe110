"""airspeed velocity benchmarks for fastgmm (see ../asv.conf.json)."""
