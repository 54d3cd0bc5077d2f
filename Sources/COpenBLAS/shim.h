#include <cblas.h>
// Not declared in every cblas.h; present in all OpenBLAS builds.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
