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

/// Fills `row` (width * channels bytes) with row `y` of the image being written.
typedef void (*segserve_png_row_fn)(void *context, int y, uint8_t *row);

/// Encodes an 8-bit gray (channels 1) or RGB (3) PNG whose rows `row_fn` supplies top to bottom,
/// so the whole image is never held unencoded. Returns 0 and a buffer for segserve_png_free, or
/// -1 with `err`.
int segserve_png_write_rows(int width, int height, int channels, segserve_png_row_fn row_fn, void *context,
                            uint8_t **out, size_t *out_length, char *err, size_t err_length);

void segserve_png_free(uint8_t *data);

#endif
