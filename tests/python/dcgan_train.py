"""A small DCGAN training script in the shape such scripts have (pytorch/examples' dcgan):
models, optimizers, a loop, a grid of samples saved every few steps, and the last save as the
final statement.  test_dcgan.py runs it as written and with only the import line swapped to
imgsink, and compares every file."""
import os

import torch
import torch.nn as nn
from torchvision.utils import save_image

torch.manual_seed(0)
torch.set_num_threads(1)  # the same numbers in both runs
nz, ngf, ndf, steps, every = 8, 8, 8, 24, 6
os.makedirs("samples", exist_ok=True)

netG = nn.Sequential(
    nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
    nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())            # 3 x 16 x 16
netD = nn.Sequential(
    nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
    nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid())
criterion = nn.BCELoss()
optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_noise = torch.randn(16, nz, 1, 1)
real = torch.tanh(torch.randn(64, 3, 16, 16).cumsum(-1) / 4)  # the "dataset"
save_image(real[:16], "samples/real.png", normalize=True)

for step in range(steps):
    batch = real[torch.randint(0, 64, (16,))]
    netD.zero_grad()
    loss_real = criterion(netD(batch).view(-1), torch.ones(16))
    fake = netG(torch.randn(16, nz, 1, 1))
    loss_fake = criterion(netD(fake.detach()).view(-1), torch.zeros(16))
    (loss_real + loss_fake).backward()
    optD.step()
    netG.zero_grad()
    criterion(netD(fake).view(-1), torch.ones(16)).backward()
    optG.step()
    if step % every == 0:
        with torch.no_grad():
            save_image(netG(fixed_noise), f"samples/fake_{step:03d}.png", normalize=True, nrow=4)
save_image(netG(fixed_noise).detach(), "samples/final.png", normalize=True)
