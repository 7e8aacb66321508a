"""Leaf modules every layer may use: errors, job states, the job-directory contract and
the HTML styling shared by reprs and widgets. They import nothing from other layers."""
