"""Model architectures behind the deployed-model contract.

``reference`` holds analytic potentials written directly against the contract (Lennard-Jones and a
two-layer message-passing toy); they test the plugin and the calculators before any learned model.
"""
