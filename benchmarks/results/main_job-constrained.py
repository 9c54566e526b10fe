from sqltune.main_job import JobConfig, main_job
job = main_job(JobConfig(sample="cpg", constrained=True, tune={"time_budget_s": 0, "max_steps": 87}), say=lambda l: print(l, flush=True),
               out="/tmp/exp/main2.json")
print(job.table)
