print("segserve")
