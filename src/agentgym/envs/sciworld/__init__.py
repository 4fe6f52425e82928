"""SciWorld (ScienceWorld) on the real Scala simulator, with simulators pooled in shared JVMs."""
