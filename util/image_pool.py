"""A history of generated images: the discriminator sees a mix of current and older fakes (Shrivastava et al.)."""
from __future__ import annotations

import random
from typing import Any, Dict, List

import torch


class ImagePool:
    """Buffer of up to ``pool_size`` earlier generated images.

    ``query`` returns, per image, the image itself (while the pool fills, or with probability 1/2) or a stored
    older image that the new one replaces. Its contents are saved with the training state so a resumed run
    sees the same history.
    """

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.images: List[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same size mixing ``images`` with stored ones."""
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                idx = random.randint(0, self.pool_size - 1)
                old = self.images[idx].clone()
                self.images[idx] = image
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> Dict[str, Any]:
        return {"pool_size": self.pool_size, "images": [im.detach().cpu() for im in self.images]}

    def load_state_dict(self, state: Dict[str, Any], device: torch.device) -> None:
        self.images = [im.to(device) for im in state["images"]][: self.pool_size]
