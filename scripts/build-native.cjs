// Placeholder: the native addon build is added with the native backend.
