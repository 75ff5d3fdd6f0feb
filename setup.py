"""videossl: self-supervised video pretraining (MaskFeat, MAE/VideoMAE) on ViT and MViTv2."""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "torch>=2.4",
    "torchvision>=0.19",
    "av>=12",
    "timm>=1.0",
    "fvcore>=0.1.5.post20221221",
    "numpy",
    "submitit>=1.5",
    "tensorboard",
    "tqdm",
    "matplotlib",
    "pyyaml",
]

EXTRAS = {
    "dev": ["pytest>=8", "ruff>=0.6", "scikit-video"],
    "decord": ["decord>=0.6"],
}

setup(
    name="videossl",
    version="0.1.0",
    description="Self-supervised video pretraining: MaskFeat and MAE/VideoMAE on ViT and MViTv2",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["videossl", "videossl.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["videossl=videossl.entry:main"]},
    license="Apache-2.0",
)
