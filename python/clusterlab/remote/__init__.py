"""Code that runs on the cluster. Each module here is copied into job dirs and must import
only the standard library and cloudpickle, never clusterlab."""
