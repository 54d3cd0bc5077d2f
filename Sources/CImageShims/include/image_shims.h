#ifndef SEGSERVE_IMAGE_SHIMS_H
#define SEGSERVE_IMAGE_SHIMS_H
#include <stddef.h>
#include <stdint.h>

/// Reads a JPEG header: returns 0 and the size, or -1 with a message in `err`.
int segserve_jpeg_size(const uint8_t *data, size_t length, int *width, int *height, char *err, size_t err_length);

/// Decodes a JPEG to 8-bit RGB into `out` (width * height * 3 bytes, from segserve_jpeg_size).
/// libjpeg reports errors by longjmp; this keeps that inside C. Returns 0, or -1 with `err`.
int segserve_jpeg_decode_rgb(const uint8_t *data, size_t length, uint8_t *out, int width, int height,
                             char *err, size_t err_length);

#endif
