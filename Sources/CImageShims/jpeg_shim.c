#include "image_shims.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>

struct shim_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
};

static void shim_error_exit(j_common_ptr info) {
    struct shim_error *e = (struct shim_error *)info->err;
    longjmp(e->jump, 1);
}

static void shim_output_message(j_common_ptr info) { (void)info; }

static int start(struct jpeg_decompress_struct *d, struct shim_error *e, const uint8_t *data, size_t length) {
    d->err = jpeg_std_error(&e->base);
    e->base.error_exit = shim_error_exit;
    e->base.output_message = shim_output_message;
    jpeg_create_decompress(d);
    jpeg_mem_src(d, data, (unsigned long)length);
    return jpeg_read_header(d, TRUE) == JPEG_HEADER_OK ? 0 : -1;
}

static void message(struct jpeg_decompress_struct *d, char *err, size_t err_length) {
    char buffer[JMSG_LENGTH_MAX];
    (*d->err->format_message)((j_common_ptr)d, buffer);
    snprintf(err, err_length, "%s", buffer);
}

/* Reads the header and, when `out` is given, the pixels as RGB; errors come back through `err`. */
static int run(const uint8_t *data, size_t length, uint8_t *out, int *width, int *height, char *err, size_t err_length) {
    struct jpeg_decompress_struct d;
    struct shim_error e;
    if (setjmp(e.jump)) {
        message(&d, err, err_length);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    if (start(&d, &e, data, length) != 0) {
        snprintf(err, err_length, "no JPEG header");
        jpeg_destroy_decompress(&d);
        return -1;
    }
    if (out == NULL) {
        *width = (int)d.image_width;
        *height = (int)d.image_height;
        jpeg_destroy_decompress(&d);
        return 0;
    }
    d.out_color_space = JCS_RGB;  /* grayscale and YCbCr convert; CMYK fails with a message */
    jpeg_start_decompress(&d);
    if ((int)d.output_width != *width || (int)d.output_height != *height || d.output_components != 3) {
        snprintf(err, err_length, "unexpected output %ux%u x%d", d.output_width, d.output_height, d.output_components);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = out + (size_t)d.output_scanline * (size_t)*width * 3;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return 0;
}

int segserve_jpeg_size(const uint8_t *data, size_t length, int *width, int *height, char *err, size_t err_length) {
    return run(data, length, NULL, width, height, err, err_length);
}

int segserve_jpeg_decode_rgb(const uint8_t *data, size_t length, uint8_t *out, int width, int height,
                             char *err, size_t err_length) {
    return run(data, length, out, &width, &height, err, err_length);
}
