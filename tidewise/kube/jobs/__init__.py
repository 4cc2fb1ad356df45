"""The training queue against a real cluster: jobs are suspended Jobs (or PyTorchJobs), and
the queue controller admits one by un-suspending it once every worker fits (docs/queue.md)."""
