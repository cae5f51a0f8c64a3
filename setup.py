import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "requirements.txt")) as f:
    REQUIREMENTS = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name="ppgan-styleclip",
    version="0.1.0",
    description="StyleCLIP global directions (text-driven StyleGAN2 face editing) in PaddlePaddle",
    packages=find_packages(include=["ppgan", "ppgan.*"]) + ["ppgan.configs"],
    package_dir={"ppgan.configs": "configs"},  # the model registry, read from the clone or the installed package
    package_data={"ppgan.styleclip": ["prompt_templates.json"], "ppgan.configs": ["*.yaml"]},
    python_requires=">=3.8",
    install_requires=REQUIREMENTS,
    extras_require={
        # Supported Paddle: 2.6 (PyPI's paddlepaddle-gpu 2.6.2; tested with 2.6.2 by CI) and 3.x.
        # The CPU render engines besides Paddle Inference (docs/speed.md); their wheels need Python 3.11 / 3.10,
        # and an engine that is not installed is simply not used.
        "cpu": ["paddlepaddle>=2.6,<4",
                'onnx==1.23.2; python_version >= "3.10"',
                'onnxruntime==1.32.0; python_version >= "3.11"',
                'openvino==2026.4.1; python_version >= "3.10"'],
        "app": ["gradio==6.31.0"],
        "test": ["pytest", "playwright==1.65.2"],
    },
)
