"""goodput: how much of the GPU time a platform pays for became useful training progress."""
