"""PyTorch track: reference models, losses and the trainer."""
from .losses import LabelTricks, discriminator_loss, generator_loss, real_fake_targets
from .models import (MODEL_KINDS, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                     MLPGenerator, Reshape, build_models, playground_conv, playground_fc,
                     sample_noise)
from .trainer import Callback, History, Trainer, load_generator, seed_everything

__all__ = [
    "LabelTricks", "discriminator_loss", "generator_loss", "real_fake_targets",
    "MODEL_KINDS", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator",
    "Reshape", "build_models", "playground_conv", "playground_fc", "sample_noise",
    "Callback", "History", "Trainer", "load_generator", "seed_everything",
]
