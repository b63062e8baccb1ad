"""Measuring translated images: L1, PSNR and SSIM of paired images, FID and KID of image sets.

``evaluation.metrics`` works on tensors (for the training loop and anything holding images in memory);
``evaluation.folders`` runs the same metrics over image folders and ``test.py`` results (scripts/evaluate.py).
"""
