print("segserve-bench")
