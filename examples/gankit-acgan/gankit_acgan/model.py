"""AC-GAN's networks.

G: the label's embedding times z (elementwise) -> linear to (2F, H/4, W/4) -> transposed conv to
(F, H/2, W/2) -> transposed conv to the image; BatchNorm and ReLU between, tanh out.
D: two strided convs (d, then 2d channels; LeakyReLU 0.2, dropout), then two linear heads on the
same features: one adversarial logit, and one logit per class. No BatchNorm in D, so a per-sample
gradient penalty (``--loss wgan-gp``) means what it should.

On MNIST with the defaults (F = 64, d = 32): G 766,953 and D 53,323 parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit import DataInfo, Discriminator, DiscriminatorOutput, Generator, Networks


class ACGANGenerator(Generator):
    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], num_classes: int,
                 features: int) -> None:
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
        channels, height, width = image_shape
        self.start = (2 * features, height // 4, width // 4)
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.project = nn.Linear(latent_dim, 2 * features * (height // 4) * (width // 4))
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * features), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * features, features, 4, 2, 1, bias=False),
            nn.BatchNorm2d(features), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("AC-GAN's generator is conditional: pass the class labels")
        h = self.project(z * self.embed(labels))
        return self.net(h.view(z.shape[0], *self.start))


class ACGANDiscriminator(Discriminator):
    def __init__(self, *, image_shape: tuple[int, int, int], num_classes: int, features: int,
                 dropout: float, class_weight: float) -> None:
        super().__init__(image_shape=image_shape, num_classes=num_classes)
        channels, height, width = image_shape
        self.class_weight = class_weight
        self.features = nn.Sequential(
            nn.Conv2d(channels, features, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout),
            nn.Conv2d(features, 2 * features, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Dropout(dropout), nn.Flatten(),
        )
        flat = 2 * features * ((height + 3) // 4) * ((width + 3) // 4)
        self.adversarial = nn.Linear(flat, 1)
        self.classifier = nn.Linear(flat, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorOutput:
        # AC-GAN's D is not told the label: it has to recognise the class itself.
        h = self.features(x)
        return DiscriminatorOutput(self.adversarial(h).squeeze(1), auxiliary=self.classifier(h))

    def discriminator_auxiliary_loss(self, real, fake, labels):
        # L_C of the paper, on real images and on (detached) fakes.
        return self.class_weight * (F.cross_entropy(real.auxiliary, labels)
                                    + F.cross_entropy(fake.auxiliary, labels))

    def generator_auxiliary_loss(self, fake, labels):
        # G wants its fakes classified as the class it was asked for.
        return self.class_weight * F.cross_entropy(fake.auxiliary, labels)


def build_networks(config, data: DataInfo) -> Networks:
    generator = ACGANGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,
                               num_classes=data.num_classes, features=config.g_features)
    discriminator = ACGANDiscriminator(image_shape=data.image_shape, num_classes=data.num_classes,
                                       features=config.d_features, dropout=config.dropout,
                                       class_weight=config.class_weight)
    return Networks(generator, discriminator)
