"""GLA-GAN: MRI-to-FDG-PET synthesis workflow for Alzheimer's disease classification."""

__version__ = "0.1.0"
